"""The sequence-model zoo: SimpleRNN, LSTM and GRU in every RNN topology, on real tasks."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the run log
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
