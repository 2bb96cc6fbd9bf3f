"""The one error a datamodule raises when the data it needs cannot be used."""


class MissingDataError(FileNotFoundError):
    """A data file is absent, or present but not the file the datamodule expects.

    Nothing is ever downloaded, so the message is all the user gets: it is one line that names the
    file, says where to obtain it and which config key (`data.path=...`) points to it. `train.py`
    prints it without a traceback.
    """
