"""Code gendl vendors from elsewhere; each sub-package notes its origin and licence."""
