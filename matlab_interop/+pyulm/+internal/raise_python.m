function raise_python(err_type, err_msg)
%RAISE_PYTHON Raise a Python exception reported by the bridge as a MATLAB error.
%   Identifier pyulm:Python:<ExceptionType>; a version mismatch between these
%   .m files and the Python package is pyulm:VersionMismatch.
err_type = char(err_type);
err_msg = char(err_msg);
if isempty(regexp(err_type, '^[A-Za-z]\w*$', 'once'))
    err_type = 'Exception';
end
if strcmp(err_type, 'VersionMismatch')
    pyulm.internal.raise('pyulm:VersionMismatch', err_msg);
end
pyulm.internal.raise(['pyulm:Python:' err_type], err_msg);
end
