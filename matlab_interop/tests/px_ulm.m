function ULM = px_ulm(D)
ULM = D.ULM;
ULM.LocMethod = 'radial';
end
