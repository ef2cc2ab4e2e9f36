"""Encoder and decoder MLPs of Appendix B.1."""
import keras

from tfgvae.nodes import BN_EPSILON, BN_MOMENTUM


def mlp(widths, name, final_activation=False):
    """fc -> batch_norm -> ELU for every width but the last, which is a plain fc (unless asked)."""
    layers = []
    for k, width in enumerate(widths):
        layers.append(keras.layers.Dense(width, name=f"fc{k + 1}"))
        if k < len(widths) - 1 or final_activation:
            layers.append(keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"bn{k + 1}"))
            layers.append(keras.layers.Activation("elu", name=f"elu{k + 1}"))
    return keras.Sequential(layers, name=name)


def encoder(feature_dim=128):
    """fc(input,512)-BN-ELU-fc(512,512)-BN-ELU-fc(512,256)-BN-ELU-fc(256,128): h_x."""
    return mlp([512, 512, 256, feature_dim], name="encoder")


def decoder(input_dim):
    """fc(.,256)-BN-ELU-fc(256,512)-BN-ELU-fc(512,512)-BN-ELU-fc(512,input): output before Sigmoid()."""
    return mlp([256, 512, 512, input_dim], name="decoder")
