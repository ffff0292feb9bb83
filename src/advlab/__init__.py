"""advlab: GANs, adversarial examples and provable defences (Oxford C6.5, lecture 13) in PyTorch."""

__version__ = "0.1.0"
