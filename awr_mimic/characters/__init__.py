"""Characters as data, and their clips."""
from awr_mimic.characters.character import Character, get_character, character_files
from awr_mimic.characters.clips import ClipEntry, list_clips, load_clip, resolve_clip

__all__ = ["Character", "ClipEntry", "character_files", "get_character", "list_clips", "load_clip", "resolve_clip"]
