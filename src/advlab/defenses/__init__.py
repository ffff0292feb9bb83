"""Defences against adversarial examples: `certify` (Wong & Kolter's provable defence) and
`spatial` (augmentation and worst-of-k training against rotations and translations)."""
