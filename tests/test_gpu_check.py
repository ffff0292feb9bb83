"""`make gpu-check` keeps up with the registry: every registered attack has test-sized
parameters there and builds with them (a new attack without them failed the check on CPU
too, since most attacks need an eps)."""

from __future__ import annotations

from benchmarks.gpu_check import ATTACK_PARAMS

from advlab.attacks import ATTACKS, PGD, create_attack


def test_every_registered_attack_has_test_sizes_that_build() -> None:
    missing = sorted(set(ATTACKS.names()) - set(ATTACK_PARAMS))
    assert not missing, f"add test-sized parameters to benchmarks/gpu_check.py ATTACK_PARAMS for {missing}"
    for name in ATTACKS.names():
        params = dict(ATTACK_PARAMS[name])
        if name == "eot":
            params["inner"] = PGD(eps=0.2, steps=5)  # as attack_rows builds it
        create_attack(name, **params)
