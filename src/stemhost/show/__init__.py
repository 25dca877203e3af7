"""The show: setlists played, checked and rendered as a set (layer 4, beside ``live/``)."""
