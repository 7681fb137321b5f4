"""Media: reading, checking and writing images and videos, the thread's media registry, judging control maps by their pixels."""
