"""awr-mimic's interactive viewer (installed as ``awr_mimic_viewer``).

Browser viewer (viser), headless video rendering (pybullet EGL) and standalone
HTML export of trained controllers and motion clips. Importing this package is
cheap; the heavy modules (viser, pybullet, torch) load on first use.
"""
