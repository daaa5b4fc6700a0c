function write_npy(path, x)
%WRITE_NPY Write a numeric/logical array as a Fortran-ordered .npy file.
%   numpy maps it without copying (np.load(path, mmap_mode='r')) in MATLAB's
%   index order. Complex arrays are written interleaved (<c16 / <c8) in chunks.
[descr, prec] = pyulm.internal.npy_descr(class(x));
if ~isreal(x)
    descr = sprintf('<c%d', 2 * str2double(descr(3:end)));
end
dims = size(x);
shape = sprintf('%d, ', dims);
header = sprintf('{''descr'': ''%s'', ''fortran_order'': True, ''shape'': (%s), }', descr, shape(1:end - 2));
total = 10 + numel(header) + 1;
header = [header repmat(' ', 1, mod(64 - mod(total, 64), 64)) char(10)];
fid = fopen(path, 'w', 'ieee-le');
if fid < 0
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('cannot write %s', path));
end
closer = onCleanup(@() fclose(fid));
fwrite(fid, [147 uint8('NUMPY') 1 0], 'uint8');
fwrite(fid, numel(header), 'uint16');
fwrite(fid, header, 'char');
if isreal(x)
    fwrite(fid, x, prec);
else
    n = numel(x);
    chunk = 2^22;
    for i0 = 1:chunk:n
        v = x(i0:min(i0 + chunk - 1, n));
        fwrite(fid, [real(v(:)).'; imag(v(:)).'], prec);
    end
end
clear closer;
end
