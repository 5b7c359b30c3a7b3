"""Realise a placement with vLLM: the launch (TP, PP, layer partition, Ray steps), the server, the serving
benchmark, and predicted vs measured."""
