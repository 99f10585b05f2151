"""What a file is, judged by its bytes: the kinds, their detection, and the metadata stripped from photos."""
