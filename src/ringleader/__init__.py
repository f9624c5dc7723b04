"""Ringleader: a process controller."""
