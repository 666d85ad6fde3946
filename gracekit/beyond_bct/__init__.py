"""beyond_bct: representation updates after 2021 (notebook 08).

* ``transform``: FCT, a learned map from stored old embeddings (plus side information) into the new
  space (Ramanujan et al., CVPR 2022), and FastFill's uncertainty head (Jaeckle et al., ICLR 2023);
* ``backfill``: which gallery items to re-embed first, and the backfilling curve for any order;
* ``stationary``: a fixed d-simplex classifier (Biondi et al., CoReS, TPAMI 2023; CVPR 2024) and
  the compatibility of every pair of models along a chain of updates;
* ``experiment``: the notebook's recipes on the synthetic faces and the chain, as tidy records;
* ``plots``: the figures.
"""
