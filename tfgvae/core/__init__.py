"""The paper's model: the DAG of latent nodes and its gates (Sec. 3.1, Eq. 9), the node layers and
precision-weighted fusion (Eq. 18), the networks of App. B, the likelihoods and the expected ELBO
(Eq. 8) with its compiled train step. Nothing here reads flags, files or datasets."""
