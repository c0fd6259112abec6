"""Command-line training and evaluation: one script per model, each reading top to bottom as data,
model, loop, checkpoint, evaluation."""
