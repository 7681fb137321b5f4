"""Writes evals/plan_cases.jsonl: the planning evaluation set (run `python evals/build_plan_cases.py`).

Each case: {"id", "prompt", "expect"}; ``{name}`` in a prompt stands for a synthetic media file that
``unison eval plans`` makes (see unison_agent/core/evaluation.py: photo.png, street.png, face.png, mask.png, clip.mp4,
dance.mp4, pose.mp4, depth.png, edges.png). ``expect`` lists only the fields a case checks. The prompts are
written for this set and are not the test suite's.
"""

import json
from pathlib import Path

W, H = 832, 480
C = []


def case(prompt, task, **expect):
    C.append({"prompt": prompt, "expect": {"task": task, **expect}})


# --- text understanding
for p in [
    "Why is the sky blue during the day but red at sunset?",
    "Translate 'good morning, how did you sleep?' into Spanish.",
    "What is 17 multiplied by 23?",
    "Summarize the plot of Romeo and Juliet in two sentences.",
    "Who wrote the novel One Hundred Years of Solitude?",
    "Explain the difference between a virus and a bacterium.",
    "Can you list three tips for keeping houseplants alive?",
    "How many minutes are there in a week?",
    "Write a haiku about autumn leaves.",
    "Is a tomato a fruit or a vegetable?",
    "Tell me a fun fact about octopuses.",
    "What does the acronym NASA stand for?",
    "Give me a recipe idea that uses leftover rice.",
]:
    case(p, "text_understanding", roles=[])

# --- image understanding
for p, roles in [
    ("What colour is the car in {street}?", ["context"]),
    ("Describe {photo} in one sentence.", ["context"]),
    ("How many people can you see in {street}?", ["context"]),
    ("Is it daytime or night in {photo}?", ["context"]),
    ("Read any text that appears in {street}.", ["context"]),
    ("What emotion does the person in {face} show?", ["context"]),
    ("Compare {photo} and {street}: which one looks warmer?", ["context", "context"]),
    ("{photo} Which season do you think this picture was taken in?", ["context"]),
    ("Give me a caption for {face}.", ["context"]),
    ("What is the main object in the middle of {photo}?", ["context"]),
    ("Does {street} look like a city or a village?", ["context"]),
    ("Identify the style of {photo}: is it a painting or a photo?", ["context"]),
]:
    case(p, "image_understanding", roles=roles)

# --- video understanding
for p in [
    "What happens in {clip}?",
    "Describe the motion in {clip} step by step.",
    "How many times does the object change direction in {clip}?",
    "Summarize {dance} in a sentence.",
    "Is the camera moving or still in {clip}?",
    "{clip} What is going on here?",
    "Which direction is the main object moving in {clip}?",
    "Explain what the person is doing in {dance}.",
    "Does anything fall down in {clip}?",
    "What colour is the moving object in {clip}?",
    "Give a short title for the video {dance}.",
    "When does the object stop moving in {clip}?",
]:
    case(p, "video_understanding", roles=["context"])

# --- text to image
for p, ex in [
    ("Draw a lighthouse on a cliff during a storm.", {"width": W, "height": H, "num_frames": 1}),
    ("Generate a picture of a cozy cabin in the snowy woods at night.", {"num_frames": 1}),
    ("I need a 1024x1024 image of a bowl of ramen.", {"width": 1024, "height": 1024}),
    ("Make a portrait-orientation illustration of a knight with a red cape.", {"width": H, "height": W}),
    ("Create a square logo of a fox head.", {"width": 624, "height": 624}),
    ("Paint an oil painting of sunflowers in a blue vase.", {"num_frames": 1}),
    ("Render a 1280x720 image of a futuristic city skyline.", {"width": 1280, "height": 720}),
    ("Produce a photo of a golden retriever catching a frisbee.", {"num_frames": 1}),
    ("Show me an image of a steaming cup of coffee on a wooden table.", {"num_frames": 1}),
    ("A watercolor picture of a hot air balloon over fields, please.", {"num_frames": 1}),
    ("Design a poster of a jazz night in 720p.", {"width": 1280, "height": 720}),
    ("Create an image of a robot reading a book, 640 by 640 pixels.", {"width": 640, "height": 640}),
    ("Illustrate a dragon sleeping on a pile of gold.", {"num_frames": 1}),
]:
    case(p, "text_to_image", roles=[], **ex)

# --- text to video
for p, ex in [
    ("Make a video of a paper boat floating down a stream.", {"num_frames": 81, "fps": 16}),
    ("Generate a 3-second clip of fireworks over a lake.", {"num_frames": 49}),
    ("Create a 2 second animation of a bouncing red ball.", {"num_frames": 33}),
    ("Film a timelapse of clouds rolling over mountains.", {"num_frames": 81}),
    ("I'd like a vertical video of rain falling on a window.", {"width": H, "height": W}),
    ("Make a 5-second video of a cat chasing a laser dot.", {"num_frames": 81}),
    ("Produce a 1280x720 video of waves crashing on a beach.", {"width": 1280, "height": 720}),
    ("Animate a spinning globe for 1 second.", {"num_frames": 17}),
    ("A short clip of a hummingbird hovering near a flower.", {"num_frames": 81}),
    ("Render a video of a train passing through a snowy valley, 4 seconds long.", {"num_frames": 65}),
    ("Create a 49-frame video of a candle flickering.", {"num_frames": 49}),
    ("Make a movie clip of a horse galloping across a beach at sunset.", {"num_frames": 81}),
    ("Generate footage of traffic lights changing at a crossing.", {"num_frames": 81}),
]:
    case(p, "text_to_video", roles=[], **ex)

# --- image to video
for p, anchor in [
    ("Animate {photo}.", "first"),
    ("Bring {face} to life with a gentle smile.", "first"),
    ("Turn {street} into a 2-second video with cars driving by.", "first"),
    ("Make {photo} move: the leaves should sway in the wind.", "first"),
    ("Use {photo} as the last frame of a video of a sunrise.", "last"),
    ("Create a video that ends with {street}.", "last"),
    ("Start a video from {face} where the person turns their head.", "first"),
    ("Make a video whose final frame is {photo}.", "last"),
    ("{street} Animate this picture with people walking.", "first"),
    ("Generate a clip leading up to {photo} as the ending frame.", "last"),
    ("Turn {face} into a short animation of someone talking.", "first"),
    ("Take {photo} as the first frame and make a 3-second video of it.", "first"),
    ("Make a video that finishes on {face}, starting from a blurry crowd.", "last"),
    ("Add gentle motion to {street}: drifting clouds, as a clip.", "first"),
]:
    case(p, "image_to_video", roles=["frame"], frame_anchor=anchor)

# --- image reference
for p in [
    "Generate an image of this dog {photo} wearing sunglasses on a beach.",
    "Make a picture of the woman in {face} as an astronaut.",
    "Using {face} as reference, draw her as a medieval queen.",
    "Create a poster featuring the person from {face} standing in a rainy city.",
    "Put this character {face} into a fantasy forest scene, as an image.",
    "Draw the same person as in {face} reading in a library.",
    "Make an illustration of him {face} riding a bicycle in Paris.",
    "A studio photo of the subject in {face} holding a trophy.",
    "Generate an ID photo of the man in {face} wearing a suit.",
    "Create an image of this character {face} as a pirate captain on a ship.",
    "Show the person from {face} as a chef in a busy kitchen, as a picture.",
    "Paint a portrait of her {face} in the style of an old master.",
]:
    case(p, "image_reference", roles=["reference"])

# --- video reference
for p in [
    "Make a video of this person {face} dancing on the moon.",
    "Create a clip of the woman in {face} walking through a market.",
    "Generate a 3-second video featuring the man from {face} waving at the camera.",
    "Using {face} as reference, make a video of her surfing a big wave.",
    "Animate the character from {face} running through a field of flowers, as a video.",
    "A video starring the person in {face} giving a speech on a stage.",
    "Make a short film of him {face} cooking pasta.",
    "Produce a video of the subject in {face} skiing down a mountain.",
    "Create a video of this person {face} playing the guitar by a campfire.",
    "Generate footage of the woman from {face} riding a horse on a beach.",
    "Make a video with the same face as {face}, smiling and talking to the camera.",
    "Video of the man in {face} walking his dog in the park.",
]:
    case(p, "video_reference", roles=["reference"])

# --- image control
for p, ctrl in [
    ("Render a city at night following the depth of {photo}.", "depth"),
    ("Make an image of a marble statue from the pose in {pose_image}.", "ready"),
    ("Create a fantasy castle from the edges of {street}.", "canny"),
    ("Generate a picture using the depth map {depth} as the layout: a canyon at sunset.", "ready"),
    ("Draw a cartoon character following the line art {edges}.", "ready"),
    ("Restyle {photo} as a watercolor painting.", "depth"),
    ("A robot in the same pose as {pose_image}, as an image.", "ready"),
    ("Turn the sketch {edges} into a realistic photo of a house.", "ready"),
    ("Use the structure of {street} to create a snowy village picture.", "depth"),
    ("Make a picture of a jungle temple guided by the depth map {depth}.", "ready"),
    ("Create an image of a dancer following the skeleton in {pose_image}.", "ready"),
    ("Follow the outlines of {photo} to make a neon sign style image.", "canny"),
]:
    case(p, "image_control", roles=["control"], control=ctrl)

# --- image edit
for p, roles, target in [
    ("Make the car in {street} bright yellow.", ["source"], "car"),
    ("Remove the person from {photo}.", ["source"], "person"),
    ("Replace the sky in {street} with a starry night.", ["source"], "sky"),
    ("Edit {photo} with the mask {mask}: fill it with flowers.", ["source", "mask"], None),
    ("Change the shirt of the man in {face} to a red sweater.", ["source"], "shirt"),
    ("Add a hat to the woman in {face}.", ["source"], "woman"),
    ("Using the mask {mask}, replace that area of {photo} with a pond.", ["mask", "source"], None),
    ("Erase the text on the sign in {street}.", ["source"], "text"),
    ("Make the grass in {photo} look like autumn.", ["source"], "grass"),
    ("Paint the door in {street} green.", ["source"], "door"),
    ("Turn the dog in {photo} into a cat.", ["source"], "dog"),
    ("Inpaint {photo} inside {mask} with a wooden bench.", ["source", "mask"], None),
    ("Get rid of the lamp post in {street}.", ["source"], "lamp post"),
    ("Make the sky in {photo} pink.", ["source"], "sky"),
]:
    ex = {"roles": roles}
    if target:
        ex["target"] = target
    case(p, "image_edit", **ex)

# --- video control
for p, ctrl in [
    ("Make a video of an astronaut dancing following the pose in {dance}.", "pose"),
    ("Create a video of a robot that follows the pose video {pose}.", "ready"),
    ("Generate a video of a knight with the same movements as {dance}, using its pose.", "pose"),
    ("Use the depth of {clip} to make a video of a lava flow.", "depth"),
    ("Follow the edges of {clip} to create an anime-style video.", "canny"),
    ("A video of a ballerina moving like the skeleton in {pose}.", "ready"),
    ("Restyle {clip} as a pencil drawing video.", "depth"),
    ("Make a cartoon video following the motion of the poses in {pose}.", "ready"),
    ("Create a video of a dancing bear from the pose of {dance}.", "pose"),
    ("Turn {clip} into a claymation video with the same depth layout.", "depth"),
    ("Colorize the grayscale video {clip}.", "gray"),
    ("Generate an underwater video that follows the depth of {dance}.", "depth"),
]:
    case(p, "video_control", roles=["control"], control=ctrl)

# --- video edit
for p, roles, target in [
    ("Remove the red box from {clip}.", ["source"], "red box"),
    ("Make the ball in {clip} blue.", ["source"], "ball"),
    ("Replace the dancer in {dance} with a robot.", ["source"], "dancer"),
    ("Change the background of {clip} to a beach.", ["source"], "background"),
    ("Edit {clip} with the mask {mask}: turn that area into water.", ["source", "mask"], None),
    ("Make the person in {dance} wear a yellow raincoat.", ["source"], "person"),
    ("Erase the moving object in {clip}.", ["source"], "moving object"),
    ("Recolor the shirt of the dancer in {dance} to green.", ["source"], "shirt"),
    ("Blur out the face in {dance}.", ["source"], "face"),
    ("Swap the cube in {clip} for a sphere.", ["source"], "cube"),
    ("Using the mask {mask}, replace that region of {clip} with fire.", ["mask", "source"], None),
    ("Turn the floor in {dance} into ice.", ["source"], "floor"),
]:
    ex = {"roles": roles}
    if target:
        ex["target"] = target
    case(p, "video_edit", **ex)

out = Path(__file__).with_name("plan_cases.jsonl")
with out.open("w") as f:
    for i, c in enumerate(C):
        f.write(json.dumps({"id": f"{c['expect']['task']}-{i:03d}", **c}) + "\n")
print(f"{len(C)} cases -> {out}")
