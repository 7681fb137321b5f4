"""The core: the Session every face drives, preparing requests, steps, the presenter, progress, the file boundary, verification, demo mode, planning evaluation."""
