"""Rates and sizes shared by every stage. One frame rate and one audio rate for the whole system."""

FPS = 25
SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
N_MELS = 80
MEL_HOP = 160  # 10 ms at 16 kHz
MEL_WIN = 400  # 25 ms at 16 kHz
N_FFT = 512
MELS_PER_FRAME = SAMPLES_PER_FRAME // MEL_HOP  # 4
N_LANDMARKS = 478  # MediaPipe face mesh with iris refinement
N_FACE_POINTS = 468  # the face points of the mesh; the last 10 are the two irises
IDENTITY_DIM = N_LANDMARKS * 3  # the generator's identity input: a neutral face, flattened (motion.identity)
