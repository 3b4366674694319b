"""Decoding and encoding media: formats, orientation, colour; nothing about faces."""
