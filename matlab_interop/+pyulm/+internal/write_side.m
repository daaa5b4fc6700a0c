function fmt = write_side(path, x, allowed)
%WRITE_SIDE Save one large numeric or logical array as a side file of a request.
%   FMT = pyulm.internal.write_side(PATH, X, ALLOWED) writes X alone into PATH
%   and returns its format; pyulm.matlab_bridge.read_side maps the data
%   instead of parsing them:
%     'octave'  Octave's binary format (save -binary), used under Octave when
%               ALLOWED is 'octave', for full double matrices, real or complex:
%               one write of Octave's own buffer, about 3 times faster than
%               -v6 for complex double. The variable name pads the header so
%               that the data start on a 32-byte boundary (numpy maps them
%               aligned).
%     'mat'     uncompressed MAT v5 (save -v6) for everything else, and always
%               in MATLAB; complex data are stored as two planes.
S = struct();
if strcmp(allowed, 'octave') && pyulm.internal.is_octave() && isa(x, 'double') && ...
   any(strcmp(typeinfo(x), {'matrix', 'complex matrix'}))
    % header bytes before the data: 30 + name + type name + 4 per dimension
    base = 30 + numel(typeinfo(x)) + 4 * ndims(x);
    S.(repmat('x', 1, mod(-base - 1, 32) + 1)) = x;
    fmt = 'octave';
    opt = '-binary';
else
    S.x = x;
    fmt = 'mat';
    opt = '-v6';
end
save(path, '-struct', 'S', opt);
end
