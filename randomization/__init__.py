"""Randomisation: allocation lists, the randomise service, blinding and emergency unblinding."""
