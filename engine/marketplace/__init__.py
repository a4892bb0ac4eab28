"""The data marketplace: partners, their products, keys, metered usage and the monthly revenue split."""
