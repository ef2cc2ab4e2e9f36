"""tfgvae: Graph VAE (He, Gong, Marino, Mori, Lehrmann, ICLR 2019) in TensorFlow/Keras.

The public API (docs/api.md), imported on first use so that ``import tfgvae`` stays cheap::

    import tfgvae
    model = tfgvae.GraphVAE(tfgvae.ModelConfig(input_shape=(28, 28, 1)), encoder=my_conv_net)
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(x_train, batch_size=64, epochs=10)       # anneals tau, warms up the KL weight
    model.log_likelihood(x_test, num_samples=1000)
"""
import importlib

__version__ = "0.1.0"

_EXPORTS = {  # public name: (module, name there)
    "GraphVAE": ("tfgvae.model", "GraphVAE"),
    "ModelConfig": ("tfgvae.model", "ModelConfig"),
    "Schedule": ("tfgvae.schedules", "Schedule"),
    "STRUCTURES": ("tfgvae.structure", "STRUCTURES"),
    "DependencyGates": ("tfgvae.structure", "DependencyGates"),
    "fixed_adjacency": ("tfgvae.structure", "fixed_adjacency"),
    "check_adjacency": ("tfgvae.adjacency", "check_adjacency"),
    "mlp_encoder": ("tfgvae.networks", "encoder"),
    "mlp_decoder": ("tfgvae.networks", "decoder"),
    "TrainConfig": ("tfgvae.config", "TrainConfig"),
    "train_and_evaluate": ("tfgvae.train", "train_and_evaluate"),
    "build_model": ("tfgvae.runs", "build_model"),
    "load_run": ("tfgvae.runs", "load_run"),
    "importance_log_likelihood": ("tfgvae.evaluation", "importance_log_likelihood"),
    "importance_terms": ("tfgvae.evaluation", "importance_terms"),
    "evaluate_model": ("tfgvae.evaluation", "evaluate_model"),
    "evaluate_saved_model": ("tfgvae.evaluation", "evaluate_saved_model"),
    "evaluate_workdir": ("tfgvae.evaluation", "evaluate_workdir"),
    "export_saved_model": ("tfgvae.export", "export_saved_model"),
    "structure_summary": ("tfgvae.artifacts", "structure_summary"),
    "write_structure_artifacts": ("tfgvae.artifacts", "write_structure_artifacts"),
    "DATASETS": ("tfgvae.data", "DATASETS"),
    "DatasetInfo": ("tfgvae.data", "DatasetInfo"),
    "load_split": ("tfgvae.data", "load_split"),
    "make_dataset": ("tfgvae.data", "make_dataset"),
    "data_source": ("tfgvae.sources", "resolve"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfgvae' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
