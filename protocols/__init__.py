"""The shipped exercise protocols (TOML), as package data: emgfeedback._protocols."""
