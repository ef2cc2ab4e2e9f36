"""Encoder and decoder MLPs of Appendix B.1, and the checks that let any Keras network replace them.

``GraphVAE(config, encoder=..., decoder=...)`` takes any Keras model or layer: the encoder maps
x (B, *input_shape) to features (B, F), the decoder maps z (B, M) (z_1 (B, N') with
``decode_from="first"``) to the D values of an example in any shape, e.g. (B, 28, 28, 1): the
Bernoulli logits, or the pre-sigmoid mean of the Gaussian (whose log-variance the observation
head adds). App. B's MLPs take examples of any shape: the encoder flattens them first, and the
model reshapes the decoder's D values into examples.
"""
import keras

from tfgvae.core.nodes import BN_EPSILON, BN_MOMENTUM
from tfgvae.data.sources import shape_text


def mlp(widths, name, final_activation=False, input_shape=None):
    """fc -> batch_norm -> ELU for every width but the last, which is a plain fc (unless asked);
    examples of ``input_shape`` with more than one axis are flattened first (flat ones keep the
    layer list, and so the checkpoint layout, of earlier versions)."""
    layers = [keras.layers.Flatten(name="flatten")] if input_shape is not None and len(input_shape) > 1 else []
    for k, width in enumerate(widths):
        layers.append(keras.layers.Dense(width, name=f"fc{k + 1}"))
        if k < len(widths) - 1 or final_activation:
            layers.append(keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"bn{k + 1}"))
            layers.append(keras.layers.Activation("elu", name=f"elu{k + 1}"))
    return keras.Sequential(layers, name=name)


def encoder(feature_dim=128, input_shape=None):
    """fc(input,512)-BN-ELU-fc(512,512)-BN-ELU-fc(512,256)-BN-ELU-fc(256,128): h_x, from examples
    of ``input_shape`` (e.g. (28, 28, 1): flattened first) or flat ones."""
    return mlp([512, 512, 256, feature_dim], name="encoder", input_shape=input_shape)


def decoder(input_dim):
    """fc(.,256)-BN-ELU-fc(256,512)-BN-ELU-fc(512,512)-BN-ELU-fc(512,input): output before Sigmoid()."""
    return mlp([256, 512, 512, input_dim], name="decoder")


def built_output_shape(network, input_shape, what):
    """Build ``network`` for inputs of ``input_shape`` (batch first) and return its output shape;
    ValueError (one line, naming ``what``) if it does not take such inputs."""
    try:
        if not network.built:
            network.build(input_shape)
        shape = network.compute_output_spec(keras.KerasTensor(input_shape)).shape
    except Exception as e:  # Keras raises ValueError, TypeError, NotImplementedError ... here
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"{what}: does not take inputs of {shape_text(input_shape)}: {first}") from None
    return tuple(shape)
