"""Network definitions (torch): the instant CNN and the piggyback guider, fusions and decoders."""
