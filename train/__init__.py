"""The model factory: prepare face crops, train the EfficientNetV2S classifiers, measure them.

Needs the `train` extra (TensorFlow with Keras 3). The face crop comes from
`edge_runtime.crop`, so the models see at training time what the runtime gives them.
"""
