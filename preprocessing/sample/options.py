"""What a sample dataset can be asked for, and its defaults (kept apart so the CLI's flags need no numpy)."""

LAYOUTS = ("dfdc", "ffpp")
DEFAULT_VIDEOS = {"dfdc": 8, "ffpp": 12}
DEFAULT_FRAMES = 32
DEFAULT_SIZE = 256
DEFAULT_FPS = 25
# Written at the root of every sample tree: its settings and ground truth (preprocessing reads its presence
# to mark data made from it as sample data).
INFO_FILE = "sample_faces.json"
