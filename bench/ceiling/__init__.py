"""The bare ceiling: a Django project of its own that does as little as an authenticated
request can.

Sessions and authentication only (SessionMiddleware, AuthenticationMiddleware), DEBUG off,
one view that asks who the user is and answers 25 bytes of JSON. `bench.ruler` serves it
under each server shape, and serves the same view behind the product's whole stack
(`product_settings`, `product_urls`), so the product's own cost is a ratio to it.
"""
