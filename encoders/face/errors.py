"""What can be wrong with an image sent to a face encoder, each with a stable code."""

from encoders.errors import InputTooLarge, InvalidInput, UnsupportedFormat


class NotAnImage(InvalidInput):
    code = "not_an_image"


class InvalidBase64(InvalidInput):
    code = "invalid_base64"


class UnsupportedImageFormat(UnsupportedFormat):
    code = "unsupported_format"


class TruncatedImage(InvalidInput):
    code = "truncated_image"


class ImageTooLarge(InputTooLarge):
    """More pixels than the cap: a decompression bomb or simply too big to process."""

    code = "image_too_large"


class NoFace(InvalidInput):
    code = "no_face"


class TooManyFaces(InvalidInput):
    code = "too_many_faces"
