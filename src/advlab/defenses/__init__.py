"""Defences against adversarial examples: `certify` (Wong & Kolter's provable defence),
`sparsity` (Gopalakrishnan et al.'s sparsifying front end and l1 network sparsity) and `spatial`
(augmentation and worst-of-k training against rotations and translations)."""
