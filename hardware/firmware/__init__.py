"""The firmware sources, shipped as package data: emgfeedback._firmware."""
