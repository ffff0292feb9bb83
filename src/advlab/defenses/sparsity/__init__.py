"""Robustness through sparsity (Gopalakrishnan, Marzi, Madhow & Pedarsani 2018).

    >>> from advlab.defenses.sparsity import SparsifyingFrontEnd, with_gradient, L1Budget, theorem2_bounds
    >>> front = SparsifyingFrontEnd(basis="coif1", level=1, rho=0.035)      # top 3.5% wavelet coefficients
    >>> net = models.create("sparsified", classifier="sparsity-mlp", num_classes=2, rho=0.035)
    >>> PGD(eps=0.1)(with_gradient(net, "bpda"), x, y)                       # identity gradient (BPDA)
    >>> train.fit(net, ..., after_step=L1Budget.parse("4,2"))                # network sparsity
    >>> theorem2_bounds(net, eps=0.1)                                        # ||e_j||_inf bounds

The front-end layer and its bases live in `advlab.models` (checkpoints rebuild them by name);
this package holds the algorithms: the gradient an attack takes through the front end, the
l1-ball projection of every neuron's weights (Duchi et al. 2008) and Theorem 2's bound.
"""

from advlab.defenses.sparsity.front_end import (
    FrontEndSpec,
    front_ends,
    linear_output_distortion,
    with_gradient,
)
from advlab.defenses.sparsity.l1 import (
    L1Budget,
    project_l1_ball,
    row_l1_norms,
    satisfies,
    weight_layers,
)
from advlab.defenses.sparsity.theorem import LayerBound, layer_perturbations, theorem2_bounds
from advlab.models.sparse_basis import SeparableBasis, basis_names, separable_basis
from advlab.models.sparsifying import SparsifyingFrontEnd

__all__ = [
    "FrontEndSpec",
    "L1Budget",
    "LayerBound",
    "SeparableBasis",
    "SparsifyingFrontEnd",
    "basis_names",
    "front_ends",
    "layer_perturbations",
    "linear_output_distortion",
    "project_l1_ball",
    "row_l1_norms",
    "satisfies",
    "separable_basis",
    "theorem2_bounds",
    "weight_layers",
    "with_gradient",
]
