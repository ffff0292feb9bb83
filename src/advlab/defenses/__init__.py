"""Defences against adversarial examples: `certify` (Wong & Kolter's provable defence)."""
