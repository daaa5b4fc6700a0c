function tf = same_bits(a, b)
% same class, size, complexity and bit pattern (NaN payloads, -0)
tf = strcmp(class(a), class(b)) && isequal(size(a), size(b)) && isreal(a) == isreal(b);
if tf && (islogical(a) || ischar(a))
    tf = isequal(a, b);
elseif tf
    tf = isequal(typecast(real(a(:)), 'uint8'), typecast(real(b(:)), 'uint8')) && ...
         isequal(typecast(imag(a(:)), 'uint8'), typecast(imag(b(:)), 'uint8'));
end
end
