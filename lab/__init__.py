"""One-off research scripts: each answers one question about the product, and nothing imports them."""
