"""Qt-free, torch-free heart of PiggyDesk: images, colour maths, hints, documents and export."""
