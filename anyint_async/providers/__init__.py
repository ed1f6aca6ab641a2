"""Route families, one module per upstream provider: request bodies, responses, status words.

Providers build :class:`~anyint_async._transport.ApiCall`s and parse answers; they never touch
aiohttp and know nothing of polling.
"""
