"""A conv Graph VAE on MNIST arrays with tfgvae's public API (docs/api.md): fit, test LL, samples,
export and reload.   python examples/conv_mnist.py --data_dir=../shared/data [--steps=100]"""
import argparse
import os

import keras
import numpy as np
import tensorflow as tf

import tfgvae

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--data_dir", default=None, help="default: $TFGVAE_DATA_DIR")
p.add_argument("--steps", type=int, default=None, help="training steps per epoch (default: all)")
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--test_examples", type=int, default=1000)
p.add_argument("--out", default=os.path.join("runs", "examples", "conv_mnist"),
               help="folder for samples.png and the SavedModel (runs/ is git-ignored)")
args = p.parse_args()

rng = np.random.default_rng(0)  # one binarization of the grey intensities, as 28 x 28 x 1 images
x, x_test = (tfgvae.load_split("mnist", split, args.data_dir)[0] for split in ("train", "test"))
x, x_test = ((rng.random(v.shape) < v).astype("float32").reshape(-1, 28, 28, 1) for v in (x, x_test))
encoder = keras.Sequential([keras.layers.Conv2D(32, 4, 2, "same", activation="elu"),
                            keras.layers.Conv2D(64, 4, 2, "same", activation="elu"),
                            keras.layers.Flatten(), keras.layers.Dense(256, activation="elu")])
decoder = keras.Sequential([keras.layers.Dense(7 * 7 * 64, activation="elu"), keras.layers.Reshape((7, 7, 64)),
                            keras.layers.Conv2DTranspose(32, 4, 2, "same", activation="elu"),
                            keras.layers.Conv2DTranspose(1, 4, 2, "same")])  # Bernoulli logits
config = tfgvae.ModelConfig(input_shape=(28, 28, 1), num_nodes=5, node_dim=16)  # structure "graph"
model = tfgvae.GraphVAE(config, encoder, decoder, seed=0)
model.compile(keras.optimizers.Adam(1e-3))  # the model anneals tau and warms up the KL weight itself
model.fit(x, batch_size=64, epochs=args.epochs, steps_per_epoch=args.steps, verbose=2)

ll = model.log_likelihood(x_test[:args.test_examples], num_samples=100, batch_size=100)
print(f"test log-likelihood {ll.mean():.2f} nats (k = 100, {len(ll)} images); MAP structure:\n"
      f"{np.asarray(model.gates.map()[0], int)}")
os.makedirs(args.out, exist_ok=True)
grid = model.sample(64, seed=0).numpy().reshape(8, 8, 28, 28).transpose(0, 2, 1, 3).reshape(224, 224, 1)
tf.io.write_file(os.path.join(args.out, "samples.png"), tf.io.encode_png(np.uint8(255 * grid)))
loaded = tf.saved_model.load(tfgvae.export_saved_model(model, os.path.join(args.out, "saved_model")))
again = loaded.log_likelihood(tf.constant(x_test[:len(ll[:100])]), 100, 0)["log_likelihood"].numpy()
print(f"reloaded SavedModel: same log-likelihood: {np.allclose(again, ll[:100], rtol=1e-5)}")
