"""Motion without physics: clips, quaternions, skeletons and forward kinematics."""
