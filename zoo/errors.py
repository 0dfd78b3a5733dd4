class ZooError(Exception):
    """A problem the user can fix (bad data, bad combination); reported as one line, no traceback."""


class DataError(ZooError):
    pass


class IncompatibleTopology(ZooError):
    pass


class NonFiniteLoss(ZooError):
    def __init__(self, message: str, epoch: int):
        super().__init__(message)
        self.epoch = epoch
