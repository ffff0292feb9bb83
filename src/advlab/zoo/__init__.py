"""Trained-model services that the lecture's recipes (`advlab.experiments`) and the commands
share: the run context, the content-keyed classifier cache, model sets, scene models, GAN
runs and the sparsity evaluation sets. Nothing here writes figures or prints.

    context.py        RunContext (output folder, model cache, device, seed, progress)
    cache.py          trained_classifier: train once, keyed by the content of its settings
    model_sets.py     several classifiers on one dataset (universal, transfer, decision regions)
    scene_models.py   scene classifiers/segmenters and the scene GAN for dissection
    gan_runs.py       one GAN configuration trained (or loaded) and summarised
    sparsity_eval.py  evaluation sets and accuracy under attack through a front end
"""
