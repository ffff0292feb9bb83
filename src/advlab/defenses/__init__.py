"""Defences against adversarial examples: `certify` (Wong & Kolter's provable defence) and
`sparsity` (Gopalakrishnan et al.'s sparsifying front end and l1 network sparsity)."""
