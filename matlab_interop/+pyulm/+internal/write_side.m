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
%               Complex single matrices are written as two float matrices,
%               the real part (variable re...) and the imaginary part
%               (im...): Octave's binary writer would convert them to double
%               first, and its MAT writer is slower.
%     'mat'     uncompressed MAT v5 (save -v6) for everything else, and always
%               in MATLAB; complex data are stored as two planes.
S = struct();
octave_ok = strcmp(allowed, 'octave') && pyulm.internal.is_octave();
if octave_ok && isa(x, 'double') && any(strcmp(typeinfo(x), {'matrix', 'complex matrix'}))
    % header bytes before the data: 30 + name + type name + 4 per dimension
    base = 30 + numel(typeinfo(x)) + 4 * ndims(x);
    S.(repmat('x', 1, mod(-base - 1, 32) + 1)) = x;
    fmt = 'octave';
    opt = '-binary';
elseif octave_ok && isa(x, 'single') && strcmp(typeinfo(x), 'float complex matrix')
    % two variables, each named so that its data start on a 32-byte boundary
    % (Octave saves im... first); the second header starts where the first
    % data end (4 bytes per value)
    base = 30 + numel('float matrix') + 4 * ndims(x);
    im_name = ['im' repmat('_', 1, mod(-base - 2, 32))];
    next = base + numel(im_name) + 4 * numel(x) + base - 11;
    S.(['re' repmat('_', 1, mod(-next - 2, 32))]) = real(x);
    S.(im_name) = imag(x);
    fmt = 'octave';
    opt = '-binary';
else
    S.x = x;
    fmt = 'mat';
    opt = '-v6';
end
save(path, '-struct', 'S', opt);
end
