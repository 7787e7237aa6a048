"""The built-in example: a synthetic shot from scikit-image's astronaut and a face set from
matplotlib's Grace Hopper photo, run through extract -> train -> export -> render."""
