"""Architectures of third-party metric networks (FID Inception, ArcFace iresnet, Wav2Lip SyncNet, I3D),
re-implemented in torch so that their published weights load by key; no weights are bundled."""
