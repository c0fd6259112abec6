"""The embedded toy world: procedural 3D objects with exact ground truth (signed distance + colour),
prompt sets with fixed splits, a ground-truth renderer, and the shape and colour classifiers that
evaluation uses. Small models trained on it stand in for internet-scale pretrained ones, so the whole
system runs offline and is measured against the truth."""
