class ZooError(Exception):
    """A problem the user can fix (bad data, bad combination); reported as one line, no traceback."""


class DataError(ZooError):
    pass


class IncompatibleTopology(ZooError):
    pass


class NonFiniteLoss(ZooError):
    pass
